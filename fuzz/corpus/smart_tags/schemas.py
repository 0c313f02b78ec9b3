# modelop.schema.0: input_schema.avsc
# modelop.schema.1: output.avsc
# modelop.score
def score(r):
    return r
