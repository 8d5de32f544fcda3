using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Gateway.Storage.Migrations
{
    /// <inheritdoc />
    public partial class JournalSchedule : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Queue entries remember when they expire (x-message-ttl, expiration) and when they become visible
            // (x-delay, nack with a delay), in UTC ticks; 0 means never / not delayed. Recovery reads both.
            migrationBuilder.Sql("ALTER TABLE queue_messages ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;");
            migrationBuilder.Sql("ALTER TABLE queue_messages ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("ALTER TABLE queue_messages DROP COLUMN not_before;");
            migrationBuilder.Sql("ALTER TABLE queue_messages DROP COLUMN expires_at;");
        }
    }
}
