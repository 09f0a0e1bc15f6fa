"""Central: receives, verifies and stores what the boxes send, and acknowledges it."""
