//! The fmn consumer: reads a bus, normalises each message into an envelope, and hands it to
//! one live worker, picked at random. What cannot be parsed goes to the dead-letter queue with
//! the reason and where it came from; nothing is dropped silently.
//!
//! - [`source`]: where messages come from (JSON lines from a file or stdin).
//! - [`amqp`]: fedora-messaging over AMQP (RabbitMQ).
//! - [`dispatch`]: choosing a worker.
//! - [`consume`](mod@consume): the loop between them.
//! - [`janitor`]: the work of workers that stopped, handed to live ones.

pub mod amqp;
pub mod consume;
pub mod datagrepper;
pub mod dispatch;
pub mod janitor;
pub mod source;
pub mod zmq_source;

pub use amqp::{AmqpOptions, AmqpSource, AmqpTls};
pub use consume::{ConsumeReport, ConsumerOptions, consume};
pub use datagrepper::{DatagrepperOptions, DatagrepperSource};
pub use dispatch::{DispatchMode, Dispatcher};
pub use janitor::{Sweep, forget_silent, run_janitor, sweep, sweep_forgetting};
pub use source::{JsonLines, RawMessage, Source, SourceError};
pub use zmq_source::{ZmqOptions, ZmqSource};
