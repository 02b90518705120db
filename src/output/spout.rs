//! Spout2 sender (Windows): OBS's Spout2 plugin, Resolume, TouchDesigner and others receive the character as a
//! GPU texture with alpha, at full frame rate, with no capture.
//!
//! How a Spout2 sender works (the protocol of the Spout2 SDK, implemented here on the Windows APIs):
//! 1. **The shared texture.** We make a D3D11 device and an `ID3D11Texture2D` in `DXGI_FORMAT_B8G8R8A8_UNORM`
//!    (Spout's default format, readable by DirectX 9 receivers too) with `D3D11_RESOURCE_MISC_SHARED`. Its
//!    legacy shared handle (`IDXGIResource::GetSharedHandle`) lets any process on the same GPU open the very
//!    same texture with `OpenSharedResource`; no pixels are copied between processes.
//! 2. **The sender's info.** A named shared-memory block, named exactly like the sender, holds the 280-byte
//!    `SharedTextureInfo`: the shared handle (32 bits), width, height, DXGI format, usage flags, a 256-byte
//!    description (UTF-16) and a partner id. Receivers read this to find and open the texture.
//! 3. **The registry of senders.** The shared-memory block `SpoutSenderNames` is a list of 256-byte,
//!    NUL-terminated sender names (up to `MaxSenders`, default 64 — the Spout settings keep it in the registry),
//!    ending at the first empty slot; `ActiveSenderName` names the most recent sender. Both are guarded by named
//!    mutexes (`<map name>_mutex`). We add our name on open and remove it on finish.
//! 4. **Each frame.** The premultiplied RGBA frame is turned into straight-alpha BGRA on the CPU, uploaded into
//!    the shared texture with `UpdateSubresource` while holding the named mutex `<sender>_SpoutAccessMutex`
//!    (receivers take it while they copy), and the context is flushed so the receiver sees the finished frame.
//!
//! When the renderer runs on D3D11/D3D12 itself, step 4 can become a GPU copy from the render target; with the
//! CPU frame we get from the readback ring, an upload of 8 MB per 1080×1920 frame is what it costs.

use windows::Win32::Foundation::{CloseHandle, HANDLE, HMODULE, INVALID_HANDLE_VALUE, WAIT_ABANDONED, WAIT_OBJECT_0};
use windows::Win32::Graphics::Direct3D::D3D_DRIVER_TYPE_HARDWARE;
use windows::Win32::Graphics::Direct3D11::{
    D3D11_BIND_RENDER_TARGET, D3D11_BIND_SHADER_RESOURCE, D3D11_CREATE_DEVICE_BGRA_SUPPORT, D3D11_RESOURCE_MISC_SHARED,
    D3D11_SDK_VERSION, D3D11_TEXTURE2D_DESC, D3D11_USAGE_DEFAULT, D3D11CreateDevice, ID3D11Device, ID3D11DeviceContext,
    ID3D11Texture2D,
};
use windows::Win32::Graphics::Dxgi::Common::{DXGI_FORMAT_B8G8R8A8_UNORM, DXGI_SAMPLE_DESC};
use windows::Win32::Graphics::Dxgi::IDXGIResource;
use windows::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_ALL_ACCESS, MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile, PAGE_READWRITE, UnmapViewOfFile,
};
use windows::Win32::System::Threading::{CreateMutexW, ReleaseMutex, WaitForSingleObject};
use windows::core::{HSTRING, Interface, PCWSTR};

use super::convert::unpremultiply;
use super::{Frame, FrameSink, OutputError, VideoFormat, check_size};

const NAME_LEN: usize = 256;
const MAX_SENDERS: usize = 64;
const INFO_SIZE: usize = 280;
const SENDER_NAMES: &str = "SpoutSenderNames";
const ACTIVE_SENDER: &str = "ActiveSenderName";

fn win_err(what: &str, e: windows::core::Error) -> OutputError {
    OutputError::Device(format!("Spout2: {what}: {e}"))
}

/// A named shared-memory block, mapped.
struct SharedMemory {
    handle: HANDLE,
    view: MEMORY_MAPPED_VIEW_ADDRESS,
    size: usize,
}

impl SharedMemory {
    fn open(name: &str, size: usize) -> Result<SharedMemory, OutputError> {
        let wide = HSTRING::from(name);
        // SAFETY: plain Win32 calls; the view is unmapped and the handle closed in Drop.
        unsafe {
            let handle =
                CreateFileMappingW(INVALID_HANDLE_VALUE, None, PAGE_READWRITE, 0, size as u32, PCWSTR(wide.as_ptr()))
                    .map_err(|e| win_err(&format!("cannot create shared memory \"{name}\""), e))?;
            let view = MapViewOfFile(handle, FILE_MAP_ALL_ACCESS, 0, 0, size);
            if view.Value.is_null() {
                let _ = CloseHandle(handle);
                return Err(OutputError::Device(format!("Spout2: cannot map shared memory \"{name}\"")));
            }
            Ok(SharedMemory { handle, view, size })
        }
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the view is `size` bytes long and lives as long as `self`.
        unsafe { std::slice::from_raw_parts_mut(self.view.Value as *mut u8, self.size) }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: both were created in `open`.
        unsafe {
            let _ = UnmapViewOfFile(self.view);
            let _ = CloseHandle(self.handle);
        }
    }
}

/// A named mutex, held while a closure runs.
struct NamedMutex(HANDLE);

impl NamedMutex {
    fn open(name: &str) -> Result<NamedMutex, OutputError> {
        let wide = HSTRING::from(name);
        // SAFETY: a plain Win32 call; closed in Drop.
        let h = unsafe { CreateMutexW(None, false, PCWSTR(wide.as_ptr())) }
            .map_err(|e| win_err(&format!("cannot create mutex \"{name}\""), e))?;
        Ok(NamedMutex(h))
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        // SAFETY: the handle is a mutex we own; a short wait so a stuck receiver cannot freeze the render loop.
        let r = unsafe { WaitForSingleObject(self.0, 67) };
        let locked = r == WAIT_OBJECT_0 || r == WAIT_ABANDONED;
        let out = f();
        if locked {
            // SAFETY: we hold it.
            unsafe {
                let _ = ReleaseMutex(self.0);
            }
        }
        out
    }
}

impl Drop for NamedMutex {
    fn drop(&mut self) {
        // SAFETY: created in `open`.
        unsafe {
            let _ = CloseHandle(self.0);
        }
    }
}

/// Copies `name` into a 256-byte NUL-terminated slot.
fn write_name(slot: &mut [u8], name: &str) {
    slot.fill(0);
    let n = name.len().min(NAME_LEN - 1);
    slot[..n].copy_from_slice(&name.as_bytes()[..n]);
}

fn read_name(slot: &[u8]) -> &[u8] {
    slot.split(|&c| c == 0).next().unwrap_or(&[])
}

/// Adds or removes `name` in the `SpoutSenderNames` list.
fn register(names: &mut SharedMemory, name: &str, add: bool) {
    let bytes = names.bytes();
    let mut list: Vec<Vec<u8>> = bytes
        .chunks(NAME_LEN)
        .map(read_name)
        .take_while(|n| !n.is_empty())
        .filter(|n| *n != name.as_bytes())
        .map(|n| n.to_vec())
        .collect();
    if add {
        list.push(name.as_bytes().to_vec());
    }
    bytes.fill(0);
    for (slot, n) in bytes.chunks_mut(NAME_LEN).zip(&list) {
        write_name(slot, &String::from_utf8_lossy(n));
    }
}

/// A Spout2 sender named `name`.
pub struct SpoutSink {
    name: String,
    format: VideoFormat,
    _device: ID3D11Device,
    context: ID3D11DeviceContext,
    texture: ID3D11Texture2D,
    info: SharedMemory,
    names: SharedMemory,
    names_mutex: NamedMutex,
    access: NamedMutex,
    bgra: Vec<u8>,
    open: bool,
}

impl SpoutSink {
    pub fn open(name: &str, format: VideoFormat) -> Result<SpoutSink, OutputError> {
        if name.is_empty() || name.len() >= NAME_LEN {
            return Err(OutputError::BadSpec(format!("Spout2 sender names are 1 to 255 bytes, got \"{name}\"")));
        }
        let mut device = None;
        let mut context = None;
        // SAFETY: out-pointers to locals; D3D11 objects are reference counted by the `windows` crate.
        unsafe {
            D3D11CreateDevice(
                None,
                D3D_DRIVER_TYPE_HARDWARE,
                HMODULE::default(),
                D3D11_CREATE_DEVICE_BGRA_SUPPORT,
                None,
                D3D11_SDK_VERSION,
                Some(&mut device),
                None,
                Some(&mut context),
            )
        }
        .map_err(|e| win_err("no Direct3D 11 GPU device", e))?;
        let (Some(device), Some(context)) = (device, context) else {
            return Err(OutputError::Device("Spout2: Direct3D 11 returned no device".into()));
        };
        let desc = D3D11_TEXTURE2D_DESC {
            Width: format.width,
            Height: format.height,
            MipLevels: 1,
            ArraySize: 1,
            Format: DXGI_FORMAT_B8G8R8A8_UNORM,
            SampleDesc: DXGI_SAMPLE_DESC { Count: 1, Quality: 0 },
            Usage: D3D11_USAGE_DEFAULT,
            BindFlags: (D3D11_BIND_SHADER_RESOURCE.0 | D3D11_BIND_RENDER_TARGET.0) as u32,
            CPUAccessFlags: 0,
            MiscFlags: D3D11_RESOURCE_MISC_SHARED.0 as u32,
        };
        let mut texture = None;
        // SAFETY: `desc` is valid; out-pointer to a local.
        unsafe { device.CreateTexture2D(&desc, None, Some(&mut texture)) }
            .map_err(|e| win_err("cannot create the shared texture", e))?;
        let texture = texture.ok_or_else(|| OutputError::Device("Spout2: no shared texture".into()))?;
        let resource: IDXGIResource = texture.cast().map_err(|e| win_err("the texture cannot be shared", e))?;
        // SAFETY: a COM call on a live object.
        let handle = unsafe { resource.GetSharedHandle() }.map_err(|e| win_err("no shared handle", e))?;

        let mut info = SharedMemory::open(name, INFO_SIZE)?;
        {
            let b = info.bytes();
            b.fill(0);
            // Shared handles are 32-bit values even in 64-bit processes, so 32- and 64-bit apps can share.
            b[0..4].copy_from_slice(&(handle.0 as usize as u32).to_le_bytes());
            b[4..8].copy_from_slice(&format.width.to_le_bytes());
            b[8..12].copy_from_slice(&format.height.to_le_bytes());
            b[12..16].copy_from_slice(&(DXGI_FORMAT_B8G8R8A8_UNORM.0 as u32).to_le_bytes());
            b[16..20].copy_from_slice(&desc.BindFlags.to_le_bytes());
            for (i, c) in "Persona".encode_utf16().enumerate() {
                b[20 + i * 2..22 + i * 2].copy_from_slice(&c.to_le_bytes());
            }
        }
        let mut names = SharedMemory::open(SENDER_NAMES, NAME_LEN * MAX_SENDERS)?;
        let names_mutex = NamedMutex::open(&format!("{SENDER_NAMES}_mutex"))?;
        names_mutex.with(|| register(&mut names, name, true));
        let mut active = SharedMemory::open(ACTIVE_SENDER, NAME_LEN)?;
        NamedMutex::open(&format!("{ACTIVE_SENDER}_mutex"))?.with(|| write_name(active.bytes(), name));
        let access = NamedMutex::open(&format!("{name}_SpoutAccessMutex"))?;
        let n = format.width as usize * format.height as usize * 4;
        Ok(SpoutSink {
            name: name.to_string(),
            format,
            _device: device,
            context,
            texture,
            info,
            names,
            names_mutex,
            access,
            bgra: vec![0; n],
            open: true,
        })
    }
}

impl FrameSink for SpoutSink {
    fn name(&self) -> String {
        format!("spout:{}", self.name)
    }

    fn send(&mut self, frame: &Frame) -> Result<(), OutputError> {
        check_size(&self.name(), &self.format, frame)?;
        if !self.open {
            return Err(OutputError::Closed(self.name()));
        }
        for (src, dst) in frame.rgba.chunks_exact(4).zip(self.bgra.chunks_exact_mut(4)) {
            let s = unpremultiply([src[0], src[1], src[2], src[3]]);
            dst.copy_from_slice(&[s[2], s[1], s[0], s[3]]);
        }
        let (context, texture, data) = (&self.context, &self.texture, &self.bgra);
        self.access.with(|| {
            // SAFETY: `data` holds width × height BGRA pixels with the row pitch given.
            unsafe {
                context.UpdateSubresource(texture, 0, None, data.as_ptr().cast(), frame.width * 4, 0);
                context.Flush();
            }
        });
        let _ = &self.info;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        if self.open {
            self.open = false;
            let (names, name) = (&mut self.names, &self.name);
            self.names_mutex.with(|| register(names, name, false));
        }
        Ok(())
    }
}

impl Drop for SpoutSink {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
