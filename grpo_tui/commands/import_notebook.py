"""`grpo-tui import NOTEBOOK.ipynb|script.py [-o PRESET.toml] [--force]`: a preset from a GRPO notebook.

Finds the notebook's from_pretrained / get_peft_model / GRPOConfig / SamplingParams / load_dataset
calls and its os.environ["UNSLOTH_VLLM_STANDBY"] line (read with ``ast``, nothing is run) and writes
a preset whose every line cites its cell, with what could not be carried listed at the top. Plain
reward functions are copied into ``<preset>_rewards.py`` beside the preset; others become stubs
there. Without -o the preset goes into your presets folder, named after the notebook.
"""

from __future__ import annotations

import re
from pathlib import Path


def add_arguments(parser, name: str) -> None:
    parser.add_argument("notebook", help="an .ipynb notebook or a .py script")
    parser.add_argument("-o", "--output", metavar="PRESET.toml", help="where to write the preset")
    parser.add_argument("--force", action="store_true", help="overwrite an existing preset")


def run(args) -> int:
    from ..core.settings.notebook_import import import_notebook, preset_text
    from ..core.planning.presets import parse_preset, user_dir
    from ..errors import UserError

    src = Path(args.notebook).expanduser()
    if not src.is_file() or src.suffix not in (".ipynb", ".py"):
        raise UserError(f"{args.notebook}: not an .ipynb notebook or .py script")
    name = re.sub(r"[^a-z0-9]+", "-", src.stem.lower()).strip("-") or "imported"
    out = Path(args.output).expanduser() if args.output else user_dir() / f"{name}.toml"
    if out.suffix != ".toml":
        raise UserError(f"-o {args.output}: a preset is a .toml file")
    rewards_file = out.with_name(out.stem + "_rewards.py").resolve()
    for path in (out, rewards_file):
        if path.exists() and not args.force:
            raise UserError(f"{path} exists (--force overwrites it)")
    try:
        imp = import_notebook(src, rewards_file)
    except (OSError, ValueError) as exc:
        raise UserError(f"{args.notebook}: cannot read it ({exc})") from None
    if imp.refusal:
        raise UserError(imp.refusal)
    if not imp.settings:
        raise UserError(f"{args.notebook}: no from_pretrained / get_peft_model / GRPOConfig call found")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(preset_text(imp, out.stem), encoding="utf-8")
    if imp.reward_file_text:
        rewards_file.write_text(imp.reward_file_text, encoding="utf-8")
    carried = len(imp.settings)
    print(f"wrote {out}: {carried} settings carried" + (f", {len(imp.rewards)} reward functions copied into "
                                                        f"{rewards_file}" if imp.rewards else ""))
    for line in imp.not_carried:
        print(f"  not carried: {line}")
    for line in imp.stubs:
        print(f"  reward stub: {line}")
    check = parse_preset(out, "user")
    if check.error:
        print(f"  the preset does not load yet: {check.error}")
        return 1
    print(f"next: grpo-tui plan {out if args.output else out.stem}")
    return 0
