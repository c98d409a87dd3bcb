"""The composition root: settings, the wiring of a running bot, the command line."""
