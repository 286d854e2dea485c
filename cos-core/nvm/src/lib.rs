//! cos-nvm (under construction)
#![no_std]
