"""The committed figure data (``figures/NAME.json``), for the tests of this folder."""

import os

import pytest

from lpft_theory.figures import writer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIG_DIR = os.path.join(ROOT, "figures")


@pytest.fixture(scope="session")
def committed():
    """``committed(name)``: the data of ``figures/NAME.json`` as read back by the writer; skips the test
    when the file has not been generated."""

    def load(name):
        path = os.path.join(FIG_DIR, f"{name}.json")
        if not os.path.exists(path):
            pytest.skip(f"{path} not generated (run lpft-theory figures --out figures --only {name})")
        return writer.read_data(path)

    return load
