from .cli import main

# Guarded: worker processes (infoprune/workers.py) are spawned, and a spawned child imports the parent's
# main module again; unguarded, each worker would start a run of its own.
if __name__ == "__main__":
    raise SystemExit(main())
