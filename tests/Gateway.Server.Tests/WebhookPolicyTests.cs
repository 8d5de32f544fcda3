using System.Net;
using Gateway.Server.Webhooks;

namespace Gateway.Server.Tests;

/// <summary>The retry schedule's arithmetic and the address policy's verdicts, without HTTP.</summary>
public sealed class WebhookPolicyTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    [Fact]
    public void The_backoff_ceiling_doubles_per_attempt_up_to_the_maximum()
    {
        var schedule = new RetrySchedule(Second, TimeSpan.FromSeconds(10), maxAttempts: null, maxAge: TimeSpan.FromDays(1));

        // random → 1 gives the ceiling itself: 1, 2, 4, 8, then capped at 10.
        var ceilings = Enumerable.Range(1, 6).Select(a => schedule.Next(a, TimeSpan.Zero, null, 0.999999)!.Value.TotalSeconds).ToList();

        Assert.Equal([1, 2, 4, 8, 10, 10], ceilings.Select(c => Math.Round(c)));
    }

    [Fact]
    public void Full_jitter_spreads_a_wait_over_the_whole_range_from_zero()
    {
        var schedule = new RetrySchedule(Second, TimeSpan.FromSeconds(10), maxAttempts: null, maxAge: TimeSpan.FromDays(1));

        Assert.Equal(TimeSpan.Zero, schedule.Next(4, TimeSpan.Zero, null, 0));
        Assert.Equal(TimeSpan.FromSeconds(4), schedule.Next(4, TimeSpan.Zero, null, 0.5));
    }

    [Fact]
    public void Retry_after_is_the_least_wait_even_beyond_the_maximum_interval()
    {
        var schedule = new RetrySchedule(Second, TimeSpan.FromSeconds(10), maxAttempts: 5, maxAge: null);

        Assert.Equal(TimeSpan.FromSeconds(30), schedule.Next(1, TimeSpan.Zero, TimeSpan.FromSeconds(30), 0.5));
        Assert.Equal(TimeSpan.FromSeconds(4), schedule.Next(3, TimeSpan.Zero, TimeSpan.FromSeconds(1), 1.0));
    }

    [Fact]
    public void The_schedule_ends_after_max_attempts()
    {
        var schedule = new RetrySchedule(Second, Second, maxAttempts: 3, maxAge: null);

        Assert.NotNull(schedule.Next(2, TimeSpan.Zero, null, 0.5));
        Assert.Null(schedule.Next(3, TimeSpan.Zero, null, 0.5));
    }

    [Fact]
    public void The_schedule_ends_when_the_next_attempt_would_start_after_max_age()
    {
        var schedule = new RetrySchedule(TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10), maxAttempts: null, maxAge: TimeSpan.FromHours(1));

        Assert.NotNull(schedule.Next(5, TimeSpan.FromMinutes(45), null, 1.0));
        Assert.Null(schedule.Next(6, TimeSpan.FromMinutes(55), null, 1.0));
        Assert.Null(schedule.Next(2, TimeSpan.FromMinutes(1), TimeSpan.FromHours(2), 0));
    }

    [Theory]
    [InlineData("8.8.8.8", null)]
    [InlineData("2606:4700::1111", null)]
    [InlineData("127.0.0.1", "loopback")]
    [InlineData("::1", "loopback")]
    [InlineData("::ffff:10.1.2.3", "private")]
    [InlineData("100.64.0.1", "shared (carrier-grade NAT)")]
    [InlineData("169.254.169.254", "cloud metadata")]
    [InlineData("169.254.170.2", "cloud metadata")]
    [InlineData("fd00:ec2::254", "cloud metadata")]
    [InlineData("100.100.100.200", "cloud metadata")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("fe80::1%2", "link-local")]
    public void Without_an_allow_list_only_public_addresses_pass(string address, string? refusal) =>
        Assert.Equal(refusal, new AddressPolicy([]).Refusal(IPAddress.Parse(address)));

    [Fact]
    public void An_allowed_network_opens_its_addresses_and_no_others()
    {
        var policy = new AddressPolicy(["10.1.0.0/16", "127.0.0.1/32"]);

        Assert.Null(policy.Refusal(IPAddress.Parse("10.1.200.3")));
        Assert.Null(policy.Refusal(IPAddress.Parse("::ffff:127.0.0.1")));
        Assert.Equal("private", policy.Refusal(IPAddress.Parse("10.2.0.1")));
        Assert.Equal("loopback", policy.Refusal(IPAddress.Parse("127.0.0.2")));
    }

    [Fact]
    public void A_metadata_address_needs_an_entry_naming_exactly_it()
    {
        Assert.Equal("cloud metadata", new AddressPolicy(["169.254.0.0/16"]).Refusal(IPAddress.Parse("169.254.169.254")));
        Assert.Null(new AddressPolicy(["169.254.0.0/16"]).Refusal(IPAddress.Parse("169.254.1.1")));
        Assert.Null(new AddressPolicy(["169.254.169.254/32"]).Refusal(IPAddress.Parse("169.254.169.254")));
    }

    [Theory]
    [InlineData("10.0.0.0/8", true)]
    [InlineData(" fd00::/8 ", true)]
    [InlineData("10.0.0.0/33", false)]
    [InlineData("10.0.0.0", false)]
    [InlineData("localhost/32", false)]
    public void Allowed_networks_must_be_cidr(string network, bool valid) => Assert.Equal(valid, AddressPolicy.AreValid([network]));
}
