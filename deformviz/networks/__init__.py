"""Every network deformviz runs, as one `Network`: the bundled detector, deformviz's exports,
checkpoints rebuilt on deformviz's operators, or factories.

- `network`: the `Network` protocol (module, preprocessing, layer index, optional detection
  and RoI heads) and `probe_network`, the one probed forward pass.
- `loading.load_network(name_file_or_factory)` -> `LoadedNetwork`, the one implementation;
  `from_python.as_network` for what a Python caller holds; `resize.with_resize` for another
  input size.
- `bundled`: the bundled detector's heads and grid (`bundled_network`); `bundled_files`: its
  registered names and deformviz's exports.
- `mmdetection`, `detectron2`: their ResNet / ResNeXt checkpoints with DCN / DCNv2, loaded
  strictly into `resnet.ResNet`; `factory`: any module from the user's own code.
- `checkpoint_file`, `safe_pickle`: reading files without running code from them.
- `preprocessing`: resize, channel order, normalisation and padding the network expects.

Example:
    >>> from deformviz.networks import load_network          # doctest: +SKIP
    >>> network = load_network("my_dcn_checkpoint.pth")      # doctest: +SKIP
    >>> network.default_chain                                # doctest: +SKIP
    ('layer4.0.conv2', 'layer4.1.conv2', 'layer4.2.conv2')
"""

from .bundled import bundled_network
from .from_python import as_network
from .loaded_network import LoadedNetwork
from .loading import load_network
from .network import (DenseDetections, DetectionHead, ImagePreparation, Network, NetworkPass,
                      RoIHead, RoIOutput, probe_network)
from .preprocessing import (CAFFE_BGR, IMAGENET_RGB, MMDETECTION_PYTORCH, LongSideResize,
                            NetworkInput, Preprocessing)
from .resize import NetworkOptionError, with_resize
from .resnet import DeformSpec, ResNet, ResNetSpec

__all__ = ["load_network", "as_network", "with_resize", "bundled_network", "probe_network",
           "Network", "LoadedNetwork", "NetworkPass", "DetectionHead", "RoIHead",
           "DenseDetections", "RoIOutput", "ImagePreparation", "NetworkOptionError",
           "Preprocessing", "LongSideResize", "NetworkInput", "ResNet", "ResNetSpec",
           "DeformSpec", "MMDETECTION_PYTORCH", "CAFFE_BGR", "IMAGENET_RGB"]
