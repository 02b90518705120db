//! Models and other downloadable assets: where they are, and the ONNX Runtime library that runs most of them.

pub mod fetch;
pub mod manifest;
pub mod onnxruntime;
pub mod protobuf;
