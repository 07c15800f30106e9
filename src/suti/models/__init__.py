"""Flax NNX models: the UNet (`unet`), the text tokenizer and encoder (`text`), and the text-to-image model
(`t2i`) that binds them with a context interface that later models extend with extra tokens."""
