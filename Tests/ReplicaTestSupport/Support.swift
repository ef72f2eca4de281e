public enum ReplicaTestSupport {}
