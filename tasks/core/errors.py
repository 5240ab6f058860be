"""The one base class for problems with the user's input: the CLI prints these as one line, exit 2."""


class InputError(ValueError):
    """Bad input (file, config key, data line); the message names the file/key/line."""
