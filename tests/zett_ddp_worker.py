"""Run by tests/test_zett.py under ``torchrun --nproc_per_node 2``: one data-parallel SGD step,
each process on its half of the batch; rank 0 writes the updated weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from toktool.zett.train import VocabPredictor, _distributed, train_step


def main() -> None:
    tiny_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    rank, world, dist = _distributed()
    assert world == 2 and dist is not None and dist.get_backend() == "gloo"
    from test_zett import _ddp_batch, _lm

    lm = _lm(tiny_dir)
    batch = _ddp_batch(tiny_dir).split(world)[rank]
    torch.manual_seed(0)
    hn = lm.new_hypernet(num_layers=1, residual="none", max_length=6)
    from torch.nn.parallel import DistributedDataParallel

    predictor = DistributedDataParallel(VocabPredictor(hn), broadcast_buffers=False)
    optimizer = torch.optim.SGD(hn.parameters(), lr=0.5)
    train_step(predictor, lm, batch, optimizer, clip=0.0)
    if rank == 0:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous() for k, v in hn.state_dict().items()}, str(out))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
