"""Readable run names such as ``brave-otter-412``, for runs started without one."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "able", "bold", "brave", "bright", "calm", "clever", "crisp", "curious", "daring", "eager",
    "fancy", "fast", "gentle", "glad", "grand", "happy", "honest", "jolly", "keen", "kind",
    "lively", "lucky", "merry", "mighty", "neat", "nimble", "noble", "polite", "proud", "quick",
    "quiet", "rapid", "sharp", "shiny", "silent", "smart", "steady", "sunny", "swift", "tidy",
    "vivid", "warm", "wise", "witty", "zesty",
)
_NOUNS = (
    "ant", "badger", "bear", "bee", "bison", "crane", "crow", "deer", "dolphin", "eagle", "elk",
    "falcon", "finch", "fox", "frog", "gecko", "goose", "hare", "hawk", "heron", "ibis", "koala",
    "lark", "lemur", "lion", "lynx", "mole", "moose", "newt", "otter", "owl", "panda", "puffin",
    "quail", "raven", "robin", "seal", "shark", "sloth", "snail", "swan", "tiger", "toad",
    "trout", "whale", "wolf", "wren", "yak", "zebra",
)

_rng = random.Random()


def generate_run_name() -> str:
    return f"{_rng.choice(_ADJECTIVES)}-{_rng.choice(_NOUNS)}-{_rng.randrange(1000)}"
