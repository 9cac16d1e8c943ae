//! One implementation of [`ChannelUnderTest`](crate::ChannelUnderTest) per
//! channel.

pub(crate) mod http;
pub(crate) mod memory;
pub(crate) mod slack;
pub(crate) mod teams;
#[cfg(unix)]
pub(crate) mod terminal;
