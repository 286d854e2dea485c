//! cos-apdu (under construction)
#![no_std]
