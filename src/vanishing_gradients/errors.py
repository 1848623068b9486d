"""The error a config value that cannot work raises (torch-free, imports nothing of the package).

Its own module so that a rule's code (and so its code hash) that only refuses bad config values, such as the phase
diagram's, does not take in the study's planning (``study``, ``selection``)."""


class ConfigError(ValueError):
    """A config value that cannot work; the message names the key, the value and what is allowed."""
