"""TF-Slim's `nets` package as TF 1.x scripts import it.

`tf1cnn-run` (and `--model=FILE.py:function`) serve
`from tf_slim.nets import resnet_v1` / `tensorflow.contrib.slim.nets` from
here and from the modules tf1cnn builds the model-zoo nets with
(`tf1cnn.models.vgg`, `alexnet`, `inception_v1..v3`, `inception_utils`,
`resnet_utils`, `mobilenet_v1`), whose functions take the arguments of the
`tf_slim` wheel's nets in the same order (extra keyword arguments of tf1cnn
come last). The two ResNet modules differ: the wheel's `resnet_v1` /
`resnet_v2` have no `spatial_squeeze` (their logits stay `[N, 1, 1, C]`,
`reuse` is the 8th argument), while tf1cnn's follow the models-repository
API of the published checkpoints; `slim_nets.resnet_v1` and
`slim_nets.resnet_v2` give the wheel's API on the same layers and variable
names.
"""
