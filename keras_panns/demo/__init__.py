"""A static web page that tags audio in the browser (onnxruntime-web), built from any tagging model."""

from keras_panns.demo.build import DemoReport, build_demo

__all__ = ["DemoReport", "build_demo"]
