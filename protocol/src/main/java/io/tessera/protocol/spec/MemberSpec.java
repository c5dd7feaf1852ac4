package io.tessera.protocol.spec;

import static io.tessera.protocol.spec.SpecException.require;

import io.tessera.protocol.TesseraSerializable;

/**
 * One model trained by a job. A job has one member unless it trains an ensemble; each member has
 * its own parameter shards and its own initialisation seed.
 *
 * @param name unique within the job, used in shard ids and reports
 * @param seed seeds the member's initial parameters
 */
public record MemberSpec(String name, long seed) implements TesseraSerializable {
  public MemberSpec {
    require(
        name != null && name.matches("[A-Za-z0-9_-]{1,32}"),
        "members[].name",
        "must be 1-32 letters, digits, '_' or '-', was '" + name + "'");
  }
}
