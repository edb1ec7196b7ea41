"""Configuration and its sources: the run record (RunConfig), every field's rules, the user's settings file, notify's settings rules, and notebooks/scripts read into a preset."""
