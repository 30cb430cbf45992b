"""Compatibility layers for TF 1.x code: tf1cnn.compat.v1 and tf1cnn.compat.slim."""
