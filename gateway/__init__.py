"""The box: web app, store, worker and the `titik` CLI."""
