"""Pruning criteria, one per file. Each module registers its class with `@register`; see README."""
