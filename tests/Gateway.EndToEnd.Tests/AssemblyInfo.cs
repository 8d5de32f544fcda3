// Each test runs its own server process and measures it under load; running them one at a time keeps a 2-core
// machine from starving a server into timeouts that have nothing to do with durability.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
