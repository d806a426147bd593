"""Foley – Fill In_Out Range: a Resolve Workspace › Scripts entry (`foley resolve install` installs it)."""
COMMAND = "range"
CONFIG_FILE = ""  # `foley resolve install` writes the path of its foley_resolve.json here


def _main(env):
    import json
    import os
    import sys

    if CONFIG_FILE:
        with open(CONFIG_FILE, encoding="utf-8") as f:
            config = json.load(f)
        roots = config["paths"]
    else:  # run from a checkout: the package is two folders up
        config = {}
        here = env.get("__file__")
        roots = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(here))))] if here else []
    for root in reversed(roots):
        if root not in sys.path:
            sys.path.insert(0, root)
    try:
        from resolve_scripts.foley_resolve import run_from_menu
    except ImportError as exc:
        wanted = config.get("python", "the one foley was installed with")
        print(f"Foley: cannot load the Foley scripts ({exc}); Resolve runs Python {sys.version.split()[0]}, "
              f"they need Python {wanted}")
        return
    run_from_menu(COMMAND, env, CONFIG_FILE)


_main(globals())
