namespace Gateway.Amqp.Protocol;

/// <summary>
/// An AMQP timestamp field value (type <c>T</c>): seconds since the Unix epoch. A type of its own so that it
/// round-trips as a timestamp, not as a 64-bit integer.
/// </summary>
/// <param name="UnixSeconds">Seconds since 1970-01-01T00:00:00Z.</param>
public readonly record struct AmqpTimestamp(long UnixSeconds);
