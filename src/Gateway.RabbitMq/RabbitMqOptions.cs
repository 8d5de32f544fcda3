namespace Gateway.RabbitMq;

/// <summary>Which RabbitMQ queue type a durable gateway queue becomes.</summary>
public enum RabbitMqQueueType
{
    /// <summary>A replicated Raft queue (survives the loss of a minority of nodes). No priorities.</summary>
    Quorum,
    /// <summary>A classic queue, on one node only.</summary>
    Classic,
}

/// <summary>
/// Settings of the RabbitMQ backend, bound from the configuration section <c>Gateway:RabbitMq</c>
/// (<see cref="Section"/>); <see cref="Validate"/> names every setting at fault so that the server fails at start.
/// </summary>
public sealed record RabbitMqOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string Section = "Gateway:RabbitMq";

    /// <summary>The AMQP endpoint used when <see cref="Uris"/> is empty.</summary>
    public const string DefaultUri = "amqp://guest:guest@localhost:5672/";

    /// <summary>
    /// The cluster's AMQP endpoints, <c>amqp://user:pass@host:port/</c>, tried in turn: the backend connects to the
    /// first that answers and, when that connection is lost, to the next, with an exponential backoff (capped by
    /// <see cref="ReconnectMaxDelay"/>) once every endpoint has failed. The path (the AMQP vhost) is ignored: each
    /// gateway vhost gets its own connection to its RabbitMQ vhost. The default is empty, which means
    /// <see cref="DefaultUri"/> (a local broker with RabbitMQ's default user).
    /// </summary>
    public IReadOnlyList<string> Uris { get; init; } = [];

    /// <summary>
    /// The management HTTP API (<c>rabbitmq_management</c>), e.g. <c>http://host:15672/</c>: listings, counts, rates,
    /// vhosts, exchange declarations (AMQP cannot declare an internal exchange from .NET) and unbinding. The default
    /// is null: port 15672 on the host of every AMQP endpoint, tried in turn.
    /// </summary>
    public string? ManagementUri { get; init; }

    /// <summary>
    /// More management endpoints, tried in turn after <see cref="ManagementUri"/> when it cannot be reached (so that
    /// listings survive the loss of the node it points at). The default is empty.
    /// </summary>
    public IReadOnlyList<string> ManagementUris { get; init; } = [];

    /// <summary>The management API's user. The default is null: the user of the first AMQP endpoint.</summary>
    public string? ManagementUser { get; init; }

    /// <summary>The management API's password. The default is null: the password of the first AMQP endpoint.</summary>
    public string? ManagementPassword { get; init; }

    /// <summary>
    /// What a durable, non-exclusive, non-auto-delete gateway queue becomes: <c>quorum</c> (the default, replicated)
    /// or <c>classic</c>. Exclusive, auto-delete and non-durable queues are always classic (quorum queues cannot be).
    /// </summary>
    public RabbitMqQueueType DurableQueueType { get; init; } = RabbitMqQueueType.Quorum;

    /// <summary>
    /// How many confirm-mode channels each vhost's connection keeps for publishing; publishes are spread over them and
    /// many may be in flight on each. The default is 8.
    /// </summary>
    public int ChannelPoolSize { get; init; } = 8;

    /// <summary>
    /// How long a publish (or a batch) may wait for its confirms, republishing on fresh channels after nacks or a lost
    /// connection, before it is answered as unavailable (503). The default is 10 seconds.
    /// </summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How many times a nacked publish is sent again on a fresh channel before it is answered as rejected (a full
    /// <c>reject-publish</c> queue nacks every time; a quorum queue without a leader nacks for the ~0.3–0.6 s of an
    /// election). Attempts are spaced 50, 100, 200, 400… ms apart. The default is 6 (about 1.5 s in all).
    /// </summary>
    public int PublishAttempts { get; init; } = 6;

    /// <summary>
    /// The bound of one connection attempt to one endpoint, and of any operation waiting for a connection: while no
    /// node answers, operations fail with BrokerUnavailableException within this time, never hang. The default is 5 seconds.
    /// </summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest pause between two rounds of connection attempts. The default is 5 seconds.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The bound of one management API request. The default is 10 seconds.</summary>
    public TimeSpan ManagementTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// This gateway node's name, unique among the gateway nodes of one cluster: delivery tags carry a hash of it so
    /// that an ack reaching another node can be forwarded to the owner. The default is the machine name.
    /// </summary>
    public string NodeName { get; init; } = Environment.MachineName;

    /// <summary>
    /// How long an ack, nack or lease extension of a delivery held by another gateway node waits for that node's
    /// answer (it is forwarded through RabbitMQ) before it is answered as a lease that expired: the owner is taken for
    /// gone, and RabbitMQ requeues what it held when its connection ends. The default is 5 seconds.
    /// </summary>
    public TimeSpan ForwardTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gateway-exclusive queues are plain RabbitMQ queues (an AMQP exclusive queue belongs to one AMQP connection)
    /// with this <c>x-expires</c>, renewed by their node while their owner lives: the queue of a gateway node that died
    /// goes away this long after. The default is 60 seconds.
    /// </summary>
    public TimeSpan ExclusiveQueueExpiry { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Checks the options; each error names its setting as <c>Gateway:RabbitMq:&lt;Name&gt;</c>. Empty when valid.
    /// </summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        for (var i = 0; i < Uris.Count; i++)
        {
            if (!Uri.TryCreate(Uris[i], UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps") || string.IsNullOrEmpty(uri.Host))
                errors.Add($"{Section}:Uris:{i} must be an absolute amqp:// or amqps:// URI (amqp://user:pass@host:port/), not '{Redact(Uris[i])}'.");
        }
        if (ManagementUri is not null && !IsHttp(ManagementUri))
            errors.Add($"{Section}:ManagementUri must be an absolute http:// or https:// URI (http://host:15672/), not '{Redact(ManagementUri)}'.");
        for (var i = 0; i < ManagementUris.Count; i++)
            if (!IsHttp(ManagementUris[i]))
                errors.Add($"{Section}:ManagementUris:{i} must be an absolute http:// or https:// URI, not '{Redact(ManagementUris[i])}'.");
        if ((ManagementUser is null) != (ManagementPassword is null))
            errors.Add($"{Section}:ManagementUser and {Section}:ManagementPassword must be set together.");
        if (!Enum.IsDefined(DurableQueueType))
            errors.Add($"{Section}:DurableQueueType must be 'quorum' or 'classic'.");
        if (ChannelPoolSize is < 1 or > 256) errors.Add($"{Section}:ChannelPoolSize must be between 1 and 256.");
        if (PublishAttempts is < 1 or > 100) errors.Add($"{Section}:PublishAttempts must be between 1 and 100.");
        Positive(errors, nameof(PublishTimeout), PublishTimeout);
        Positive(errors, nameof(ConnectTimeout), ConnectTimeout);
        Positive(errors, nameof(ReconnectMaxDelay), ReconnectMaxDelay);
        Positive(errors, nameof(ManagementTimeout), ManagementTimeout);
        Positive(errors, nameof(ForwardTimeout), ForwardTimeout);
        if (ExclusiveQueueExpiry < TimeSpan.FromSeconds(3))
            errors.Add($"{Section}:ExclusiveQueueExpiry must be at least 3 seconds.");
        if (string.IsNullOrWhiteSpace(NodeName)) errors.Add($"{Section}:NodeName must not be empty.");
        return errors;
    }

    /// <summary>The AMQP endpoints in the order they are tried (<see cref="DefaultUri"/> when none is configured).</summary>
    internal IReadOnlyList<Uri> AmqpEndpoints => (Uris.Count == 0 ? [DefaultUri] : Uris).Select(u => new Uri(u)).ToArray();

    /// <summary>The management endpoints in the order they are tried.</summary>
    internal IReadOnlyList<Uri> ManagementEndpoints
    {
        get
        {
            var list = new List<Uri>();
            if (ManagementUri is not null) list.Add(new Uri(ManagementUri));
            list.AddRange(ManagementUris.Select(u => new Uri(u)));
            if (list.Count == 0)
                list.AddRange(AmqpEndpoints.Select(u => new Uri($"http://{u.Host}:15672/")).DistinctBy(u => u.ToString()));
            return list;
        }
    }

    /// <summary>The management credentials: the configured ones, else the first AMQP endpoint's.</summary>
    internal (string User, string Password) ManagementCredentials
    {
        get
        {
            if (ManagementUser is not null) return (ManagementUser, ManagementPassword ?? "");
            var (user, password) = Credentials(AmqpEndpoints[0]);
            return (user, password);
        }
    }

    /// <summary>The user and password of an AMQP URI (guest/guest when it has none, as RabbitMQ.Client).</summary>
    internal static (string User, string Password) Credentials(Uri uri)
    {
        if (string.IsNullOrEmpty(uri.UserInfo)) return ("guest", "guest");
        var parts = uri.UserInfo.Split(':', 2);
        return (Uri.UnescapeDataString(parts[0]), parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "");
    }

    /// <summary>A URI without its password, for messages and logs.</summary>
    internal static string Redact(string? uri) =>
        uri is null ? "" : System.Text.RegularExpressions.Regex.Replace(uri, "(://[^:/@]*):[^@/]*@", "$1:***@");

    private static bool IsHttp(string uri) =>
        Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https";

    private static void Positive(List<string> errors, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero) errors.Add($"{Section}:{name} must be positive.");
    }
}
