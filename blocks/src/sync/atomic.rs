//! Atomics with std's API.
//!
//! Each type is a transparent wrapper around std's, so that every operation passes one
//! synchronization point of the backend first (free with the default backend).

use std::sync::atomic as std_atomic;

pub use std::sync::atomic::{compiler_fence, Ordering};

use crate::backend::sync_point;

/// A memory fence, as [`std::sync::atomic::fence`].
#[inline]
pub fn fence(order: Ordering) {
    sync_point();
    std_atomic::fence(order);
}

macro_rules! atomic_int {
    ($(#[$doc:meta])* $name:ident, $int:ty) => {
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(Default)]
        pub struct $name(std_atomic::$name);

        impl $name {
            pub const fn new(value: $int) -> Self {
                Self(std_atomic::$name::new(value))
            }
            pub fn get_mut(&mut self) -> &mut $int {
                self.0.get_mut()
            }
            pub fn into_inner(self) -> $int {
                self.0.into_inner()
            }
            pub const fn as_ptr(&self) -> *mut $int {
                self.0.as_ptr()
            }
            #[inline]
            pub fn load(&self, order: Ordering) -> $int {
                sync_point();
                self.0.load(order)
            }
            #[inline]
            pub fn store(&self, value: $int, order: Ordering) {
                sync_point();
                self.0.store(value, order)
            }
            #[inline]
            pub fn swap(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.swap(value, order)
            }
            #[inline]
            pub fn compare_exchange(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                sync_point();
                self.0.compare_exchange(current, new, success, failure)
            }
            #[inline]
            pub fn compare_exchange_weak(
                &self,
                current: $int,
                new: $int,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$int, $int> {
                sync_point();
                self.0.compare_exchange_weak(current, new, success, failure)
            }
            #[inline]
            pub fn fetch_add(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_add(value, order)
            }
            #[inline]
            pub fn fetch_sub(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_sub(value, order)
            }
            #[inline]
            pub fn fetch_and(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_and(value, order)
            }
            #[inline]
            pub fn fetch_nand(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_nand(value, order)
            }
            #[inline]
            pub fn fetch_or(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_or(value, order)
            }
            #[inline]
            pub fn fetch_xor(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_xor(value, order)
            }
            #[inline]
            pub fn fetch_max(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_max(value, order)
            }
            #[inline]
            pub fn fetch_min(&self, value: $int, order: Ordering) -> $int {
                sync_point();
                self.0.fetch_min(value, order)
            }
            #[inline]
            pub fn fetch_update<F: FnMut($int) -> Option<$int>>(
                &self,
                set_order: Ordering,
                fetch_order: Ordering,
                f: F,
            ) -> Result<$int, $int> {
                sync_point();
                self.0.fetch_update(set_order, fetch_order, f)
            }
        }

        impl From<$int> for $name {
            fn from(value: $int) -> Self {
                Self::new(value)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

atomic_int!(
    /// An integer shared between threads, as [`std::sync::atomic::AtomicU32`]; the futex word.
    AtomicU32,
    u32
);
atomic_int!(
    /// An integer shared between threads, as [`std::sync::atomic::AtomicU64`].
    AtomicU64,
    u64
);
atomic_int!(
    /// An integer shared between threads, as [`std::sync::atomic::AtomicUsize`].
    AtomicUsize,
    usize
);

/// A boolean shared between threads, as [`std::sync::atomic::AtomicBool`].
#[repr(transparent)]
#[derive(Default)]
pub struct AtomicBool(std_atomic::AtomicBool);

impl AtomicBool {
    pub const fn new(value: bool) -> Self {
        Self(std_atomic::AtomicBool::new(value))
    }
    pub fn get_mut(&mut self) -> &mut bool {
        self.0.get_mut()
    }
    pub fn into_inner(self) -> bool {
        self.0.into_inner()
    }
    #[inline]
    pub fn load(&self, order: Ordering) -> bool {
        sync_point();
        self.0.load(order)
    }
    #[inline]
    pub fn store(&self, value: bool, order: Ordering) {
        sync_point();
        self.0.store(value, order)
    }
    #[inline]
    pub fn swap(&self, value: bool, order: Ordering) -> bool {
        sync_point();
        self.0.swap(value, order)
    }
    #[inline]
    pub fn compare_exchange(
        &self,
        current: bool,
        new: bool,
        success: Ordering,
        failure: Ordering,
    ) -> Result<bool, bool> {
        sync_point();
        self.0.compare_exchange(current, new, success, failure)
    }
    #[inline]
    pub fn compare_exchange_weak(
        &self,
        current: bool,
        new: bool,
        success: Ordering,
        failure: Ordering,
    ) -> Result<bool, bool> {
        sync_point();
        self.0.compare_exchange_weak(current, new, success, failure)
    }
    #[inline]
    pub fn fetch_and(&self, value: bool, order: Ordering) -> bool {
        sync_point();
        self.0.fetch_and(value, order)
    }
    #[inline]
    pub fn fetch_nand(&self, value: bool, order: Ordering) -> bool {
        sync_point();
        self.0.fetch_nand(value, order)
    }
    #[inline]
    pub fn fetch_or(&self, value: bool, order: Ordering) -> bool {
        sync_point();
        self.0.fetch_or(value, order)
    }
    #[inline]
    pub fn fetch_xor(&self, value: bool, order: Ordering) -> bool {
        sync_point();
        self.0.fetch_xor(value, order)
    }
    #[inline]
    pub fn fetch_not(&self, order: Ordering) -> bool {
        sync_point();
        self.0.fetch_not(order)
    }
    #[inline]
    pub fn fetch_update<F: FnMut(bool) -> Option<bool>>(
        &self,
        set_order: Ordering,
        fetch_order: Ordering,
        f: F,
    ) -> Result<bool, bool> {
        sync_point();
        self.0.fetch_update(set_order, fetch_order, f)
    }
}

impl From<bool> for AtomicBool {
    fn from(value: bool) -> Self {
        Self::new(value)
    }
}

impl std::fmt::Debug for AtomicBool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl AtomicU32 {
    /// The std atomic underneath, for the futex syscall.
    pub(crate) fn as_std(ptr: *const AtomicU32) -> *const std_atomic::AtomicU32 {
        ptr.cast()
    }

    /// The std atomic underneath, read without a synchronization point (explored futex waits).
    pub(crate) fn std(&self) -> &std_atomic::AtomicU32 {
        &self.0
    }
}
