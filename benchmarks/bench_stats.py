"""Throughput of `deformviz stats` and where its time goes: network, geometry, I/O.

Writes N generated scenes (JPEG, like COCO, with COCO-format annotations and RLE masks) to a
temporary folder, then:

1. end to end: `run_statistics` with W DataLoader workers, images per second;
2. the same loop with timers (one process, workers as in 1): seconds per image waiting for
   the loader (I/O: decode + prepare in workers, as seen by the main process), in the network's
   forward pass (`network.chain`), in the geometry (`image_statistics`: effective dilation,
   unit classes, tracing all object units' 729 points twice, in-object counts), and adding to
   the accumulators; and the geometry / forward ratio (target: <= 1);
3. decode + prepare of one image in-process (what each worker spends per image).

Device and batching: `--device cuda` runs the network on the GPU (on the CPU by default when
none is visible); `--batch-sizes 1 8` repeats the end-to-end run at each batch size (images
through the network at once, padded together as the network batches them), printing images/s on
this device and how far each batched table is from the first run's: whether every count agrees
(units per class, units left out, the rigid filter's shares: they must) and the largest
relative change of a class's mean effective dilation and the largest change of an in-object
share (padding moves them). `--sizes 480x640 640x480 ...` cycles the generated images through
several sizes so batches pad; on a GPU the timed loop also reports the GPU's share of the wall
time (CUDA events around each forward pass). Under torchrun each process is one device:
multiply by the processes for the job's rate.

Networks: the bundled one (`--network bundled`, longer side `--size`), or a ResNet-50 with
DCNv1 in c3-c5 (`--network resnet50-dcn`: deformviz's rebuilt mmdetection backbone, random
weights, mmdetection's test preprocessing: shorter side 800, longer at most 1333), whose
chain is res5a-c at stride 32.

Usage: python benchmarks/bench_stats.py [--network bundled|resnet50-dcn] [--images 24]
       [--height 480] [--width 640] [--size 512] [--workers 2] [--device auto|cpu|cuda]
       [--batch-sizes 1 8] [--sizes 480x640 640x480 ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from deformviz.models.registry import DEFAULT_MODEL
from deformviz.networks import load_network
from deformviz.scenes import SceneConfig, SceneGenerator
from deformviz.scenes.rle import encode_mask
from deformviz.statistics import NetworkChain, StatsOptions, read_coco, run_statistics
from deformviz.statistics.accumulators import DilationAccumulator, ShareAccumulator
from deformviz.statistics.image_statistics import image_statistics
from deformviz.statistics.loader import AnnotatedImages, FailedImage, image_loader


def write_dataset(folder: Path, count: int, sizes: list[tuple[int, int]]) -> Path:
    """`count` scenes, image i of size sizes[i % len(sizes)] (height, width)."""
    generators = {size: SceneGenerator(SceneConfig(image_size=size), seed=5) for size in set(sizes)}
    images, annotations = [], []
    for index in range(count):
        size = sizes[index % len(sizes)]
        scene = generators[size](index)
        name = f"{index:06d}.jpg"
        Image.fromarray(scene.image).save(folder / name, quality=90)
        images.append({"id": index + 1, "file_name": name, "height": size[0], "width": size[1]})
        for k in range(scene.num_objects):
            x1, y1, x2, y2 = (float(v) for v in scene.boxes[k])
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": int(scene.classes[k]) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "area": int(scene.masks[k].sum()), "iscrowd": 0,
                                "segmentation": encode_mask(scene.masks[k])})
    path = folder / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


def resnet50_dcn() -> NetworkChain:
    """ResNet-50, DCNv1 in every block of c3-c5, random weights (timing only)."""
    from deformviz.networks.loaded_network import LoadedNetwork, default_chain
    from deformviz.networks.preprocessing import MMDETECTION_PYTORCH
    from deformviz.networks.resnet import DeformSpec, ResNet, ResNetSpec

    torch.manual_seed(0)
    module = ResNet(ResNetSpec.standard(50, dcn=DeformSpec())).eval()
    for name, layer in module.named_modules():
        if hasattr(layer, "conv_offset"):  # non-zero offsets, as a trained network has
            torch.nn.init.normal_(layer.conv_offset.weight, std=0.01)
    layers = module.deformable_layers
    network = LoadedNetwork(module, MMDETECTION_PYTORCH, "factory", "ResNet-50 DCNv1 c3-c5",
                            layers, default_chain(layers), "benchmark")
    return NetworkChain(network, "resnet50-dcn")


def parse_size(text: str) -> tuple[int, int]:
    height, width = (int(side) for side in text.lower().split("x"))
    return height, width


def table_change(reference, other) -> tuple[bool, float, float]:
    """(every count equal, largest relative change of a class mean, largest change of an
    in-object share) of `other`'s table against `reference`'s."""
    first, second = reference.to_json(), other.to_json()
    same, worst_mean, worst_share = True, 0.0, 0.0
    for layer, row in first["effective_dilation"].items():
        for name, entry in row.items():
            theirs = second["effective_dilation"][layer][name]
            if not isinstance(entry, dict):
                same &= theirs == entry
            elif entry["units"] != theirs["units"]:
                same = False
            elif entry["units"]:
                worst_mean = max(worst_mean, abs(theirs["mean"] - entry["mean"]) / abs(entry["mean"]))
    for name in ("small", "medium", "large"):
        entry, theirs = first["in_object_share"][name], second["in_object_share"][name]
        same &= entry["units"] == theirs["units"] and entry["rigid"] == theirs["rigid"]
        if entry["units"]:
            worst_share = max(worst_share, abs(entry["deformed"]["mean"] - theirs["deformed"]["mean"]))
    return same, worst_mean, worst_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--height", type=int, default=480, help="generated images (px), like COCO's")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--size", type=int, default=512, help="model input, longer side (px)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--network", choices=("bundled", "resnet50-dcn"), default="bundled")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1],
                        help="end-to-end runs at these --batch-size values")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=None, metavar="HxW",
                        help="generated image sizes, cycled (default: --height x --width)")
    args = parser.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.network == "bundled":
        network = NetworkChain(load_network(args.model, long_side=args.size, device=device),
                               args.model, device)
        described = f"model {args.model}, longer side {args.size}"
    else:
        network = resnet50_dcn()
        network.network.module.to(device)
        network.device = torch.device(device)
        described = f"ResNet-50 DCN c3-c5, {network.description['input']}"
    options = StatsOptions()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = args.sizes or [(args.height, args.width)]
        dataset = read_coco(write_dataset(folder, args.images, sizes), folder)
        # Warm-up: first-call allocations of the network and the geometry.
        run_statistics(network, dataset, options, limit=2, workers=0)

        end_to_end, tables = {}, {}
        for batch_size in args.batch_sizes:
            started = time.perf_counter()
            tables[batch_size] = run_statistics(network, dataset, options, workers=args.workers,
                                                batch_size=batch_size)
            end_to_end[batch_size] = time.perf_counter() - started

        gpu_seconds = 0.0  # CUDA event time of the forward passes
        loop_started = time.perf_counter()

        timers = {"io_wait": [], "network": [], "geometry": [], "accumulate": []}
        dilation = DilationAccumulator(network.layer_names)
        share = ShareAccumulator(729)
        loader = image_loader(AnnotatedImages(dataset.images, network.prepare, False), args.workers)
        iterator = iter(loader)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                break
            timers["io_wait"].append(time.perf_counter() - started)
            assert not isinstance(item, FailedImage), item
            started = time.perf_counter()
            if device == "cuda":
                events = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                events[0].record()
            with torch.no_grad():
                chain = network.chain(item.tensor)
            if device == "cuda":
                events[1].record()
                torch.cuda.synchronize()
                gpu_seconds += events[0].elapsed_time(events[1]) / 1000
            timers["network"].append(time.perf_counter() - started)
            started = time.perf_counter()
            stats = image_statistics(chain, network.layer_names, item.objects, options.thresholds,
                                     item.resize)
            timers["geometry"].append(time.perf_counter() - started)
            started = time.perf_counter()
            stats.add_to(dilation, share)
            timers["accumulate"].append(time.perf_counter() - started)

        loop_seconds = time.perf_counter() - loop_started
        single = AnnotatedImages(dataset.images[:6], network.prepare, False)
        decode = []
        for index in range(len(single)):
            started = time.perf_counter()
            single[index]
            decode.append(time.perf_counter() - started)

    units = sum(counts.units for counts in share.counts.values())
    where = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {described}; "
          f"{args.images} images {', '.join(f'{w}x{h}' for h, w in sizes)} (WxH), {args.workers} workers; "
          f"{units} object units traced (x729 points, twice)")
    reference = args.batch_sizes[0]
    for batch_size, seconds in end_to_end.items():
        print(f"end to end (run_statistics, batch size {batch_size}): {args.images / seconds:.2f} "
              f"images/s on this device ({seconds / args.images:.3f} s/image)")
        if batch_size != reference:
            same, mean, share = table_change(tables[reference], tables[batch_size])
            print(f"  table against batch size {reference}: counts {'equal' if same else 'DIFFER'}, "
                  f"class means moved by at most {100 * mean:.4f} %, in-object shares by at most "
                  f"{share:.5f}")
    total = sum(sum(v) for v in timers.values())
    for name, values in timers.items():
        print(f"  {name:<11} median {statistics.median(values) * 1000:7.1f} ms/image, "
              f"{100 * sum(values) / total:5.1f} % of the timed loop")
    if device == "cuda":
        print(f"GPU busy (forward passes, CUDA events): {100 * gpu_seconds / loop_seconds:.1f} % "
              "of the timed loop's wall time")
    ratio = sum(timers["geometry"]) / sum(timers["network"])
    print(f"geometry / forward pass: {ratio:.2f} (target <= 1)")
    print(f"decode + prepare in one process: median {statistics.median(decode) * 1000:.1f} ms/image "
          "(what each worker spends per image)")


if __name__ == "__main__":
    main()
