"""Users' own deformable networks: checkpoints rebuilt on deformviz's operators, or factories.

- `loading.load_network(file_or_factory)` -> `LoadedNetwork` (module, preprocessing, layers).
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

from .loaded_network import LoadedNetwork
from .loading import load_network
from .preprocessing import CAFFE_BGR, IMAGENET_RGB, MMDETECTION_PYTORCH, NetworkInput, Preprocessing
from .resnet import DeformSpec, ResNet, ResNetSpec

__all__ = ["load_network", "LoadedNetwork", "Preprocessing", "NetworkInput", "ResNet",
           "ResNetSpec", "DeformSpec", "MMDETECTION_PYTORCH", "CAFFE_BGR", "IMAGENET_RGB"]
