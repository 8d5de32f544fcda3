namespace Gateway.Amqp;

/// <summary>
/// The AMQP 0-9-1 listener (<c>Gateway:Amqp</c>): RabbitMQ clients connect to the gateway directly and share its
/// exchanges and queues with the HTTP, WebSocket and webhook clients.
/// </summary>
public sealed record AmqpOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Gateway:Amqp";

    /// <summary>Whether the listener runs. The default is true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// The TCP port. The default is 5672, AMQP's; 0 takes a free port (tests), which the listener reports in its
    /// log line and in <see cref="AmqpListener.LocalEndPoint"/>.
    /// </summary>
    public int Port { get; init; } = 5672;

    /// <summary>
    /// The address to listen on. The default is 127.0.0.1 (loopback, as the HTTP default); 0.0.0.0 or :: for every
    /// interface (e.g. in a container).
    /// </summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>
    /// The largest frame the server accepts and proposes in connection.tune, in bytes. The default is 131072, as
    /// RabbitMQ's; clients may ask for less, not for more. At least 4096 (the spec's minimum).
    /// </summary>
    public int FrameMax { get; init; } = 131_072;

    /// <summary>The most channels per connection (connection.tune). The default is 2047, as RabbitMQ's.</summary>
    public int ChannelMax { get; init; } = 2047;

    /// <summary>
    /// The heartbeat interval proposed in connection.tune, in seconds (the client's answer wins; 0 turns heartbeats
    /// off). The default is 60, as RabbitMQ's. A peer silent for two intervals is disconnected.
    /// </summary>
    public int HeartbeatSeconds { get; init; } = 60;

    /// <summary>
    /// How long a client may take from connecting to connection.open-ok, in seconds, so that idle sockets do not hold
    /// resources. The default is 10, as RabbitMQ's handshake timeout.
    /// </summary>
    public int HandshakeTimeoutSeconds { get; init; } = 10;

    /// <summary>
    /// A PKCS#12 (.pfx) certificate file: when set, the listener speaks AMQPS (TLS) instead of plain AMQP. Unset by
    /// default.
    /// </summary>
    public string? CertificatePath { get; init; }

    /// <summary>The password of <see cref="CertificatePath"/>, when it has one.</summary>
    public string? CertificatePassword { get; init; }

    /// <summary>Why the options cannot be used, naming the setting; null when they can.</summary>
    public string? Validate()
    {
        if (Port is < 0 or > 65535) return $"{Section}:Port must be from 0 to 65535.";
        if (!System.Net.IPAddress.TryParse(Address, out _)) return $"{Section}:Address must be an IP address (e.g. 127.0.0.1 or 0.0.0.0).";
        if (FrameMax is < 4096) return $"{Section}:FrameMax must be at least 4096 (AMQP's minimum frame size).";
        if (ChannelMax is < 1 or > 65535) return $"{Section}:ChannelMax must be from 1 to 65535.";
        if (HeartbeatSeconds is < 0 or > 65535) return $"{Section}:HeartbeatSeconds must be from 0 to 65535.";
        if (HandshakeTimeoutSeconds < 1) return $"{Section}:HandshakeTimeoutSeconds must be positive.";
        if (CertificatePath is { Length: > 0 } path && !File.Exists(path)) return $"{Section}:CertificatePath: no file '{path}'.";
        return null;
    }
}

/// <summary>The gateway's message limits as the listener applies them.</summary>
/// <param name="MaxMessageBytes">The largest body accepted (Gateway:Limits:MaxMessageBytes); a larger one is refused with 406.</param>
/// <param name="MaxPrefetch">The most unacknowledged deliveries of one consumer (Gateway:Limits:MaxPrefetch); prefetch 0 (unlimited) means this.</param>
public sealed record AmqpLimits(int MaxMessageBytes, int MaxPrefetch);
