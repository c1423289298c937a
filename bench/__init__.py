"""The command line of infoprune: `python -m bench run|list|report`."""
