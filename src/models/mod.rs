//! Models and other downloadable assets: where they are, and the ONNX Runtime library that runs most of them.

pub mod onnxruntime;
