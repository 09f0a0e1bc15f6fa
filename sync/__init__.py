"""Store-and-forward: envelopes, signing, the outbox, the MQTT relay and the central receiver."""
