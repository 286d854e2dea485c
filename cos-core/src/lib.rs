//! cos-core (under construction)
#![no_std]
