//! cos-crypto (under construction)
#![no_std]
