"""The kit's data layer: models, queries and bundled migrations."""
