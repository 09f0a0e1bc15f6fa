"""Developer tools run by hand (not imported by the appliance)."""
