"""The retrain tests' fixtures: fast worker settings, the demo clips, an annotated set."""

from tests.server.training.test_retrain import (  # noqa: F401 (fixtures)
    annotated,
    demo_files,
    settings,
)
