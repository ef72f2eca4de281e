import ReplicaCore
print("replica: placeholder")
