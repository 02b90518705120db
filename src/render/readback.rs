//! A ring of buffers the rendered target is copied into and mapped asynchronously: the render loop submits
//! frame N+1 while frame N is still on its way back, and only waits when every buffer is still in flight.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::Frame;

const PENDING: u8 = 0;
const MAPPED: u8 = 1;
const FAILED: u8 = 2;

struct Slot {
    buffer: wgpu::Buffer,
    state: Arc<AtomicU8>,
}

pub struct ReadbackRing {
    width: u32,
    height: u32,
    padded_row: u32,
    free: Vec<Slot>,
    in_flight: VecDeque<Slot>,
}

impl ReadbackRing {
    pub fn new(device: &wgpu::Device, width: u32, height: u32, slots: usize) -> ReadbackRing {
        let padded_row = (width * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let free = (0..slots.max(1))
            .map(|i| Slot {
                buffer: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("readback {i}")),
                    size: padded_row as u64 * height as u64,
                    usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                    mapped_at_creation: false,
                }),
                state: Arc::new(AtomicU8::new(PENDING)),
            })
            .collect();
        ReadbackRing { width, height, padded_row, free, in_flight: VecDeque::new() }
    }

    pub fn has_free_slot(&self) -> bool {
        !self.free.is_empty()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Records the copy of `texture` into a free buffer; call [`ReadbackRing::after_submit`] once submitted.
    /// Returns false (records nothing) if no buffer is free.
    pub fn record_copy(&mut self, encoder: &mut wgpu::CommandEncoder, texture: &wgpu::Texture) -> bool {
        let Some(slot) = self.free.last() else { return false };
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &slot.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.padded_row),
                    rows_per_image: Some(self.height),
                },
            },
            wgpu::Extent3d { width: self.width, height: self.height, depth_or_array_layers: 1 },
        );
        true
    }

    /// Starts mapping the buffer the last recorded copy went into.
    pub fn after_submit(&mut self) {
        let Some(slot) = self.free.pop() else { return };
        slot.state.store(PENDING, Ordering::Release);
        let state = slot.state.clone();
        slot.buffer.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            state.store(if r.is_ok() { MAPPED } else { FAILED }, Ordering::Release);
        });
        self.in_flight.push_back(slot);
    }

    /// The oldest frame if it has arrived; with `wait`, blocks until it has.
    pub fn take(&mut self, device: &wgpu::Device, wait: bool) -> anyhow::Result<Option<Frame>> {
        let Some(front) = self.in_flight.front() else { return Ok(None) };
        let _ = device.poll(if wait { wgpu::PollType::wait_indefinitely() } else { wgpu::PollType::Poll });
        match front.state.load(Ordering::Acquire) {
            PENDING if wait => anyhow::bail!("the GPU did not return the frame"),
            PENDING => return Ok(None),
            _ => {}
        }
        let Some(slot) = self.in_flight.pop_front() else { return Ok(None) };
        let failed = slot.state.load(Ordering::Acquire) == FAILED;
        let frame = if failed {
            Err(anyhow::anyhow!("mapping the readback buffer failed"))
        } else {
            let row = (self.width * 4) as usize;
            let mut rgba = Vec::with_capacity(row * self.height as usize);
            match slot.buffer.slice(..).get_mapped_range() {
                Ok(view) => {
                    for y in 0..self.height as usize {
                        let start = y * self.padded_row as usize;
                        rgba.extend_from_slice(&view[start..start + row]);
                    }
                }
                Err(e) => {
                    self.free.push(slot);
                    anyhow::bail!("cannot read the frame back: {e:?}");
                }
            }
            slot.buffer.unmap();
            Ok(Frame { width: self.width, height: self.height, rgba })
        };
        self.free.push(slot);
        frame.map(Some)
    }
}
