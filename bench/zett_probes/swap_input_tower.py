"""A checkpoint with one run's input tower and another's output tower: does what input
alignment (phase 1c, trained on merged windows for dynamic merging) taught the input side carry
over to whole-vocabulary transfer?

Both runs must share the reconstruction phase (the input tower is otherwise the same network);
the output run's config, output tower and metadata are kept, every tensor outside the output
tower comes from the input run. Evaluate the result with
``python bench/eval_zett.py --hypernet OUT --out /tmp/x.md``.

Usage: python bench/zett_probes/swap_input_tower.py INPUT_RUN OUTPUT_RUN OUT
(runs: directory names under the cache's zett/; OUT: a new checkpoint directory)
"""
import json
import sys
from pathlib import Path

from safetensors.torch import load_file, save_file

from toktool import artifacts

source, target, out = sys.argv[1:4]
root = artifacts.cache_dir() / "zett"
inputs = load_file(str(root / source / "checkpoint" / "hypernet.safetensors"))
merged = load_file(str(root / target / "checkpoint" / "hypernet.safetensors"))
swapped = 0
for key, value in inputs.items():
    if key.startswith("output_tower."):
        continue
    if key not in merged or merged[key].shape != value.shape:
        raise SystemExit(f"{key}: not in {target}'s input tower with the same shape")
    merged[key] = value
    swapped += 1
out_dir = Path(out)
out_dir.mkdir(parents=True, exist_ok=True)
save_file(merged, str(out_dir / "hypernet.safetensors"), metadata={"format": "toktool-zett-hypernet"})
meta = json.loads((root / target / "checkpoint" / "hypernet.json").read_text())
meta["input_tower_from"] = source
(out_dir / "hypernet.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
print(f"{out_dir}: {swapped} input-tower tensors from {source}, output tower from {target}")
