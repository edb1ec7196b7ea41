"""Reading a run: what its directory says, for people and machines -- the dashboard's run model, alerts, compare, the report (text and HTML, with its SVG charts), exports and notifications."""
