"""Forecasters built from standard Keras layers and fincast's own ``keras.ops`` layers."""
