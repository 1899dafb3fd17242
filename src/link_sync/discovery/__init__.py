"""Finding printers on the local network (`link-sync discover`, `init --discover`).

`browse` listens for the printers' mDNS announcements, `identify` asks each what it is
(without credentials where its API answers, with them where the config or the
environment has them), `hostnames` reads the family out of a firmware's default
hostname, and `config_text` writes what was found into a config file.
"""
