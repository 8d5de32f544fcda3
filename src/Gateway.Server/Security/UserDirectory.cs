using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Gateway.Broker;
using Gateway.Storage;
using Gateway.Storage.Topology;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Primitives;

namespace Gateway.Server.Security;

/// <summary>What an operation needs on a resource, as RabbitMQ's permissions.</summary>
public enum Permission
{
    /// <summary>Declare and delete.</summary>
    Configure,
    /// <summary>Publish to an exchange; bind to a queue or exchange (as destination).</summary>
    Write,
    /// <summary>Get, consume and purge a queue; bind from an exchange (as source).</summary>
    Read,
}

/// <summary>A user as the API shows it.</summary>
public sealed record UserInfo(string Name, IReadOnlyList<string> Tags, DateTimeOffset CreatedAt);

/// <summary>An API key as the API lists it: never its secret.</summary>
public sealed record KeyInfo(string Id, string User, string? Description, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

/// <summary>A user's permissions in one vhost.</summary>
public sealed record PermissionInfo(string User, string Vhost, string Configure, string Write, string Read);

/// <summary>
/// Users, API keys and vhost permissions: held in memory for the per-request checks, written through to the store.
/// Authorization follows RabbitMQ: per vhost, three regular expressions (configure, write, read) matched against
/// resource names (unanchored, as RabbitMQ's; the empty expression matches nothing); user tags
/// <c>administrator</c> (manages users, vhosts, permissions, definitions) and <c>management</c> (overview, metrics).
/// Revoking a key (or deleting its user) ends the sockets and streams it opened, through <see cref="KeyLifetime"/>.
/// </summary>
/// <remarks>
/// With a shared store (PostgreSQL, many gateway nodes) other nodes change the same records: the store's
/// <see cref="IStateStore.WatchSecurity"/> fires on each change, and the directory loads users, keys and permissions
/// again and acts as if the change had been made here — keys revoked or deleted elsewhere end what they opened on this
/// node, permission changes reach <see cref="WatchPermissions"/>. Reloads are coalesced: changes arriving while one runs
/// cost one more reload, not one each.
/// </remarks>
public sealed partial class UserDirectory : IDisposable
{
    /// <summary>Tags RabbitMQ knows; only the first two mean something here.</summary>
    public static readonly IReadOnlyList<string> KnownTags = ["administrator", "management", "monitoring", "policymaker"];

    private sealed record User(string Name, string[] Tags, long CreatedAt);
    private sealed record Key(string Id, string User, byte[] Hash, string? Description, long CreatedAt, long? ExpiresAt, long? RevokedAt);
    private sealed record Grant(string Configure, string Write, string Read, Regex? ConfigureRegex, Regex? WriteRegex, Regex? ReadRegex)
    {
        // The answers of this grant's expressions, per (permission, resource): a user publishes to the same few exchanges
        // over and over. A grant is never changed, only replaced (set, removed, reloaded), and a check looks the grant up
        // each time, so a permission change drops these answers with the grant: nothing stale can be answered.
        private readonly ConcurrentDictionary<(Permission, string), bool> _answers = new();

        public bool Allows(Permission permission, string resource)
        {
            var regex = permission switch { Permission.Configure => ConfigureRegex, Permission.Write => WriteRegex, _ => ReadRegex };
            if (regex is null) return false;
            if (ReferenceEquals(regex, MatchesEverything)) return true;
            if (_answers.TryGetValue((permission, resource), out var known)) return known;
            var allowed = regex.IsMatch(resource);
            if (_answers.Count >= MaxAnswersPerGrant) _answers.Clear(); // names are the client's: bound what they can fill
            _answers[(permission, resource)] = allowed;
            return allowed;
        }
    }

    private const int MaxAnswersPerGrant = 4096;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, User> _users = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Key> _keys = new(StringComparer.Ordinal);
    private readonly Dictionary<(string User, string Vhost), Grant> _grants = new();
    private readonly ConcurrentDictionary<string, (string User, string KeyId, long? ExpiresAt)> _verified = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KeyLifetimeSource> _lifetimes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CancellationTokenSource> _permissionWatches = new(StringComparer.Ordinal);
    private readonly IStateStore? _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IDisposable? _watch;
    // Bumped under _lock by every write of this node: a reload that read the store before such a write would undo it in
    // memory, so it reads again instead.
    private long _generation;
    private int _reloadRequests;

    /// <param name="store">Where users live; null keeps them in memory (document generation).</param>
    /// <param name="time">The clock (key expiry).</param>
    /// <param name="logger">Where a failed reload of a shared store's changes is logged.</param>
    public UserDirectory(IStateStore? store, TimeProvider time, ILogger<UserDirectory>? logger = null)
    {
        _store = store;
        _time = time;
        _logger = logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        if (store is null) return;
        // Watching before the first read: a change committed after it is then never missed.
        _watch = ChangeToken.OnChange(store.WatchSecurity, RequestReload);
        var (users, keys, grants) = ReadAll(store);
        foreach (var u in users) _users[u.Name] = new User(u.Name, SplitTags(u.Tags), u.CreatedAt);
        foreach (var k in keys) _keys[k.Id] = ToKey(k);
        foreach (var p in grants) _grants[(p.User, p.Vhost)] = Compile(p.Configure, p.Write, p.Read);
    }

    private static (List<UserRow> Users, List<ApiKeyRow> Keys, List<PermissionRow> Grants) ReadAll(IStateStore store) =>
        store.Read(db => (db.Users.ToList(), db.ApiKeys.ToList(), db.Permissions.ToList()));

    private static Key ToKey(ApiKeyRow k) => new(k.Id, k.User, k.SecretHash, k.Description, k.CreatedAt, k.ExpiresAt, k.RevokedAt);

    /// <inheritdoc />
    public void Dispose() => _watch?.Dispose();

    // ---------------------------------------------------------------- changes made by other nodes

    // Coalesces: the first request starts a loop on the thread pool; requests arriving while it reloads make it run once
    // more (each pass covers every request counted before it read the store).
    private void RequestReload()
    {
        if (Interlocked.Increment(ref _reloadRequests) == 1) _ = Task.Run(ReloadLoop);
    }

    private void ReloadLoop()
    {
        while (true)
        {
            var seen = Volatile.Read(ref _reloadRequests);
            try
            {
                Reload();
            }
            catch (Exception e) when (e is Gateway.Broker.Durability.StorageException or InvalidOperationException)
            {
                // The store is unreachable: its listener reconnects and fires again, and this reload runs then.
                LogReloadFailed(e);
            }
            if (Interlocked.Add(ref _reloadRequests, -seen) == 0) return;
        }
    }

    /// <summary>
    /// Loads users, keys and permissions from the store and replaces the ones in memory; keys that are gone or revoked
    /// end what they opened here, users whose permissions changed have their watches fired (as the local changes do).
    /// </summary>
    private void Reload()
    {
        List<string> ended;
        List<string> regranted;
        while (true)
        {
            long generation;
            lock (_lock) generation = _generation;
            var (users, keys, grants) = ReadAll(_store!);
            lock (_lock)
            {
                if (generation != _generation) continue; // a write of this node meanwhile: what was read may predate it

                var newKeys = keys.ToDictionary(k => k.Id, ToKey, StringComparer.Ordinal);
                var keysChanged = newKeys.Count != _keys.Count || newKeys.Any(k => !_keys.TryGetValue(k.Key, out var old) || !SameKey(old, k.Value));
                ended = _lifetimes.Keys.Where(id => newKeys.GetValueOrDefault(id) is not { RevokedAt: null }).ToList();

                var newGrants = new Dictionary<(string User, string Vhost), Grant>();
                foreach (var p in grants)
                {
                    var key = (p.User, p.Vhost);
                    // Unchanged grants keep their compiled expressions; a pattern another node stored compiles here too.
                    newGrants[key] = _grants.TryGetValue(key, out var old) && old.Configure == p.Configure && old.Write == p.Write && old.Read == p.Read
                        ? old
                        : CompileStored(p);
                }
                regranted = newGrants.Keys.Concat(_grants.Keys).Where(g => !_grants.TryGetValue(g, out var before)
                        || !newGrants.TryGetValue(g, out var after) || !ReferenceEquals(before, after))
                    .Select(g => g.User).Distinct(StringComparer.Ordinal).ToList();

                _users.Clear();
                foreach (var u in users) _users[u.Name] = new User(u.Name, SplitTags(u.Tags), u.CreatedAt);
                _keys.Clear();
                foreach (var (id, key) in newKeys) _keys[id] = key;
                _grants.Clear();
                foreach (var (g, grant) in newGrants) _grants[g] = grant;
                if (keysChanged) _verified.Clear();
                break;
            }
        }
        foreach (var id in ended) EndKey(id);
        foreach (var user in regranted) PermissionsChanged(user);
    }

    /// <summary>True when other gateway nodes share the store (their changes arrive through it).</summary>
    public bool IsShared => _store?.IsShared == true;

    /// <summary>Loads users, keys and permissions from the store now (after a write another node won).</summary>
    public void Refresh()
    {
        if (_store is not null) Reload();
    }

    private static bool SameKey(Key a, Key b) =>
        a.User == b.User && a.RevokedAt == b.RevokedAt && a.ExpiresAt == b.ExpiresAt && a.Hash.AsSpan().SequenceEqual(b.Hash);

    // A pattern stored by another writer that does not compile here grants nothing rather than failing the reload.
    private static Grant CompileStored(PermissionRow p)
    {
        try
        {
            return Compile(p.Configure, p.Write, p.Read);
        }
        catch (BrokerException)
        {
            return new Grant(p.Configure, p.Write, p.Read, null, null, null);
        }
    }

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Could not load users, keys and permissions changed in the shared store; retried when it answers again")]
    private partial void LogReloadFailed(Exception exception);

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>True when no user exists yet (first start).</summary>
    public bool IsEmpty { get { lock (_lock) return _users.Count == 0; } }

    // ---------------------------------------------------------------- authentication

    /// <summary>
    /// <see cref="Authenticate(string)"/> of a key read straight from a header: a key verified before is found without
    /// making a string of it (the common case, every request of a client).
    /// </summary>
    public (string User, string KeyId)? Authenticate(ReadOnlySpan<char> presented)
    {
        if (_verified.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(presented, out var known) && (known.ExpiresAt is null || known.ExpiresAt > Now))
            return (known.User, known.KeyId);
        return Authenticate(presented.ToString());
    }

    /// <summary>The user and key id a presented key belongs to, or null when it is unknown, revoked or expired.</summary>
    public (string User, string KeyId)? Authenticate(string presented)
    {
        var now = Now;
        if (_verified.TryGetValue(presented, out var known) && (known.ExpiresAt is null || known.ExpiresAt > now)) return (known.User, known.KeyId);
        var (id, secret) = ApiKey.Identify(presented);
        Key? key;
        lock (_lock) key = _keys.GetValueOrDefault(id);
        if (key is null || key.RevokedAt is not null || key.ExpiresAt <= now || !ApiKey.Matches(secret, key.Hash)) return null;
        if (_verified.Count > 10_000) _verified.Clear(); // bounded: a flood of distinct valid keys only costs hashing
        _verified[presented] = (key.User, key.Id, key.ExpiresAt);
        return (key.User, key.Id);
    }

    /// <summary>True while the key exists, is not revoked and has not expired (a ticket's key is checked again at redemption).</summary>
    public bool IsActive(string keyId)
    {
        lock (_lock) return _keys.GetValueOrDefault(keyId) is { RevokedAt: null } key && !(key.ExpiresAt <= Now);
    }

    /// <summary>
    /// Cancelled when the key is revoked, expires or its user is deleted: sockets and streams opened with it end then.
    /// Already cancelled for a key that is not active (revoked or deleted meanwhile).
    /// </summary>
    public CancellationToken KeyLifetime(string keyId)
    {
        // Under the lock that revocation and deletion take: a lifetime is either created before a revocation (which
        // then cancels it) or sees the key revoked.
        lock (_lock)
        {
            if (_lifetimes.TryGetValue(keyId, out var existing)) return existing.Token;
            if (_keys.GetValueOrDefault(keyId) is not { RevokedAt: null } key || key.ExpiresAt <= Now) return new CancellationToken(canceled: true);
            var lifetime = new KeyLifetimeSource();
            _lifetimes[keyId] = lifetime;
            if (key.ExpiresAt is { } at) ScheduleExpiry(keyId, lifetime, at);
            return lifetime.Token;
        }
    }

    // Timers take at most ~49 days (uint milliseconds): a later expiry re-arms the timer until it is due.
    private static readonly TimeSpan LongestTimer = TimeSpan.FromDays(1);

    private void ScheduleExpiry(string keyId, KeyLifetimeSource lifetime, long expiresAt)
    {
        var due = TimeSpan.FromMilliseconds(Math.Max(0, expiresAt - Now));
        lifetime.Timer?.Dispose();
        lifetime.Timer = _time.CreateTimer(_ =>
        {
            if (Now >= expiresAt) EndKey(keyId);
            else lock (_lock) if (!lifetime.Ended) ScheduleExpiry(keyId, lifetime, expiresAt);
        }, null, due < LongestTimer ? due : LongestTimer, Timeout.InfiniteTimeSpan);
    }

    private void EndKey(string keyId)
    {
        _verified.Clear();
        KeyLifetimeSource? lifetime;
        lock (_lock)
        {
            if (!_lifetimes.Remove(keyId, out lifetime)) return;
            lifetime.Ended = true;
        }
        lifetime.End();
    }

    /// <summary>The cancellation of one key's sockets and streams, with the timer of its expiry.</summary>
    private sealed class KeyLifetimeSource
    {
        private readonly CancellationTokenSource _cancellation = new();
        public ITimer? Timer;
        public bool Ended;
        public CancellationToken Token => _cancellation.Token;

        public void End()
        {
            Timer?.Dispose();
            _cancellation.Cancel();
        }
    }

    // ---------------------------------------------------------------- authorization

    /// <summary>Whether the user carries a tag.</summary>
    public bool HasTag(string user, string tag)
    {
        lock (_lock) return _users.TryGetValue(user, out var u) && u.Tags.Contains(tag);
    }

    /// <summary>Whether the user has any permission entry in the vhost (RabbitMQ's vhost access).</summary>
    public bool CanAccess(string user, string vhost)
    {
        lock (_lock) return _grants.ContainsKey((user, vhost));
    }

    /// <summary>Null when allowed; else why not (for the 403 detail).</summary>
    public string? Check(string user, string vhost, Permission permission, string resource)
    {
        Grant? grant;
        lock (_lock) grant = _grants.GetValueOrDefault((user, vhost));
        if (grant is null) return $"User '{user}' has no access to vhost '{vhost}'.";
        if (grant.Allows(permission, resource)) return null;
        return $"User '{user}' may not {permission.ToString().ToLowerInvariant()} '{resource}' in vhost '{vhost}' " +
               $"({permission.ToString().ToLowerInvariant()} permission: '{permission switch { Permission.Configure => grant.Configure, Permission.Write => grant.Write, _ => grant.Read }}').";
    }

    // ---------------------------------------------------------------- users

    /// <summary>Every user, by name.</summary>
    public IReadOnlyList<UserInfo> ListUsers()
    {
        lock (_lock) return _users.Values.OrderBy(u => u.Name, StringComparer.Ordinal).Select(ToInfo).ToList();
    }

    /// <summary>A user, or null.</summary>
    public UserInfo? GetUser(string name)
    {
        lock (_lock) return _users.TryGetValue(name, out var u) ? ToInfo(u) : null;
    }

    private static UserInfo ToInfo(User u) => new(u.Name, u.Tags, DateTimeOffset.FromUnixTimeMilliseconds(u.CreatedAt));

    /// <summary>Creates or updates a user's tags; true when created.</summary>
    public bool PutUser(string name, IReadOnlyList<string> tags)
    {
        lock (_lock)
        {
            var created = !_users.TryGetValue(name, out var existing);
            var user = new User(name, [.. tags.Distinct().Order(StringComparer.Ordinal)], existing?.CreatedAt ?? Now);
            _generation++;
            _store?.Write(db =>
            {
                if (db.Users.Find(name) is { } row) row.Tags = string.Join(',', user.Tags);
                else db.Users.Add(new UserRow { Name = name, Tags = string.Join(',', user.Tags), CreatedAt = user.CreatedAt });
            });
            _users[name] = user;
            return created;
        }
    }

    /// <summary>Deletes a user with their keys and permissions; their sockets and streams end.</summary>
    public bool DeleteUser(string name)
    {
        List<string> keys;
        lock (_lock)
        {
            if (!_users.ContainsKey(name)) return false;
            _generation++;
            _store?.Write(db =>
            {
                db.ApiKeys.RemoveRange(db.ApiKeys.Where(k => k.User == name));
                db.Permissions.RemoveRange(db.Permissions.Where(p => p.User == name));
                // Null when another node deleted it meanwhile (a shared store).
                if (db.Users.Find(name) is { } row) db.Users.Remove(row);
            });
            _users.Remove(name);
            keys = _keys.Values.Where(k => k.User == name).Select(k => k.Id).ToList();
            foreach (var id in keys) _keys.Remove(id);
            foreach (var grant in _grants.Keys.Where(g => g.User == name).ToList()) _grants.Remove(grant);
        }
        foreach (var id in keys) EndKey(id);
        return true;
    }

    // ---------------------------------------------------------------- keys

    /// <summary>Creates a key for a user; the text is shown once and never stored.</summary>
    public (KeyInfo Key, string Text) CreateKey(string user, string? description, DateTimeOffset? expiresAt) =>
        AddKey(user, description, expiresAt, ApiKey.Generate());

    /// <summary>Registers a key whose text was given (the configured bootstrap key).</summary>
    public KeyInfo AddKnownKey(string user, string text, string description)
    {
        var (id, secret) = ApiKey.Identify(text);
        return AddKey(user, description, null, (id, text, ApiKey.Hash(secret))).Key;
    }

    private (KeyInfo Key, string Text) AddKey(string user, string? description, DateTimeOffset? expiresAt, (string Id, string Text, byte[] Hash) generated)
    {
        lock (_lock)
        {
            if (!_users.ContainsKey(user)) throw new BrokerException(BrokerError.NotFound, $"No user '{user}'.");
            if (_keys.ContainsKey(generated.Id)) throw new BrokerException(BrokerError.PreconditionFailed, "That key exists already.");
            var key = new Key(generated.Id, user, generated.Hash, description, Now, expiresAt?.ToUnixTimeMilliseconds(), null);
            _generation++;
            _store?.Write(db => db.ApiKeys.Add(new ApiKeyRow
            {
                Id = key.Id, User = user, SecretHash = key.Hash, Description = description, CreatedAt = key.CreatedAt, ExpiresAt = key.ExpiresAt,
            }));
            _keys[key.Id] = key;
            return (ToInfo(key), generated.Text);
        }
    }

    /// <summary>A user's keys (never their secrets), oldest first.</summary>
    public IReadOnlyList<KeyInfo> ListKeys(string user)
    {
        lock (_lock) return _keys.Values.Where(k => k.User == user).OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).Select(ToInfo).ToList();
    }

    /// <summary>Revokes a key: requests with it answer 401 at once, its sockets close with 1008, its streams end.</summary>
    public bool RevokeKey(string user, string id)
    {
        lock (_lock)
        {
            if (!_keys.TryGetValue(id, out var key) || key.User != user) return false;
            if (key.RevokedAt is null)
            {
                var revoked = key with { RevokedAt = Now };
                _generation++;
                _store?.Write(db =>
                {
                    if (db.ApiKeys.Find(id) is { } row) row.RevokedAt ??= revoked.RevokedAt;
                });
                _keys[id] = revoked;
            }
        }
        EndKey(id);
        return true;
    }

    private static KeyInfo ToInfo(Key k) => new(k.Id, k.User, k.Description, DateTimeOffset.FromUnixTimeMilliseconds(k.CreatedAt),
        k.ExpiresAt is { } e ? DateTimeOffset.FromUnixTimeMilliseconds(e) : null, k.RevokedAt is { } r ? DateTimeOffset.FromUnixTimeMilliseconds(r) : null);

    // ---------------------------------------------------------------- permissions

    /// <summary>Permissions, optionally of one vhost and/or one user.</summary>
    public IReadOnlyList<PermissionInfo> ListPermissions(string? vhost = null, string? user = null)
    {
        lock (_lock)
            return _grants.Where(g => (vhost is null || g.Key.Vhost == vhost) && (user is null || g.Key.User == user))
                .OrderBy(g => g.Key.Vhost, StringComparer.Ordinal).ThenBy(g => g.Key.User, StringComparer.Ordinal)
                .Select(g => new PermissionInfo(g.Key.User, g.Key.Vhost, g.Value.Configure, g.Value.Write, g.Value.Read)).ToList();
    }

    /// <summary>Sets a user's permissions in a vhost; throws (invalid argument) naming an expression that does not compile.</summary>
    public bool SetPermission(string user, string vhost, string configure, string write, string read)
    {
        var grant = Compile(configure, write, read);
        bool created;
        lock (_lock)
        {
            if (!_users.ContainsKey(user)) throw new BrokerException(BrokerError.NotFound, $"No user '{user}'.");
            created = !_grants.ContainsKey((user, vhost));
            _generation++;
            _store?.Write(db =>
            {
                if (db.Permissions.Find(user, vhost) is { } row)
                {
                    row.Configure = configure;
                    row.Write = write;
                    row.Read = read;
                }
                else db.Permissions.Add(new PermissionRow { User = user, Vhost = vhost, Configure = configure, Write = write, Read = read });
            });
            _grants[(user, vhost)] = grant;
        }
        PermissionsChanged(user);
        return created;
    }

    /// <summary>Removes a user's permissions in a vhost; false when there were none.</summary>
    public bool DeletePermission(string user, string vhost)
    {
        lock (_lock)
        {
            if (!_grants.ContainsKey((user, vhost))) return false;
            _generation++;
            _store?.Write(db => db.Permissions.Where(p => p.User == user && p.Vhost == vhost).ExecuteDelete());
            _grants.Remove((user, vhost));
        }
        PermissionsChanged(user);
        return true;
    }

    /// <summary>
    /// A change token that fires the next time the user's permissions are set or removed (in any vhost): open
    /// subscriptions check their read permission again then (<see cref="ChangeToken.OnChange(Func{IChangeToken?}, Action)"/>
    /// watches every change). One token source per watched user, however many subscriptions watch it.
    /// </summary>
    public IChangeToken WatchPermissions(string user)
    {
        lock (_lock)
        {
            if (!_permissionWatches.TryGetValue(user, out var source)) _permissionWatches[user] = source = new CancellationTokenSource();
            return new CancellationChangeToken(source.Token);
        }
    }

    // Outside the lock: the watchers' callbacks run on this thread and check permissions (which take the lock).
    private void PermissionsChanged(string user)
    {
        CancellationTokenSource? source;
        lock (_lock) _permissionWatches.Remove(user, out source);
        source?.Cancel();
    }

    /// <summary>Drops every permission in a deleted vhost.</summary>
    public void ForgetVhost(string vhost)
    {
        lock (_lock)
        {
            var gone = _grants.Keys.Where(g => g.Vhost == vhost).ToList();
            if (gone.Count == 0) return;
            _generation++;
            _store?.Write(db => db.Permissions.RemoveRange(db.Permissions.Where(p => p.Vhost == vhost)));
            foreach (var g in gone) _grants.Remove(g);
        }
    }

    private static Grant Compile(string configure, string write, string read) =>
        new(configure, write, read, Pattern("configure", configure), Pattern("write", write), Pattern("read", read));

    // RabbitMQ matches unanchored; the empty expression matches nothing. Non-backtracking: a user's pattern cannot
    // make a check take exponential time.
    // ".*" (unanchored, so it matches at position 0 of any name) is the pattern of most grants and of every publish of an
    // administrator: it is answered without running the regex.
    private static readonly Regex MatchesEverything = new(".*", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);

    private static Regex? Pattern(string name, string pattern)
    {
        if (pattern.Length == 0) return null;
        if (pattern == ".*") return MatchesEverything;
        try
        {
            return new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
        }
        catch (ArgumentException e)
        {
            throw new BrokerException(BrokerError.InvalidArgument, $"The {name} permission '{pattern}' is not a valid regular expression: {e.Message}");
        }
        catch (NotSupportedException e)
        {
            throw new BrokerException(BrokerError.InvalidArgument, $"The {name} permission '{pattern}' uses a construct that is not supported (no backreferences or lookarounds): {e.Message}");
        }
    }

    private static string[] SplitTags(string tags) => tags.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
