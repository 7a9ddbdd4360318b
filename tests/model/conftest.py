"""Model tests run on one CPU thread: the machine is shared and the tensors are tiny."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
