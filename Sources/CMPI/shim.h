// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE, ...) are macros that
// expand to casts of addresses of internal globals, which Swift cannot import; these inline
// functions return them. Built only with the `MPI` package trait (`--traits MPI`).
#include <mpi.h>

static inline MPI_Comm swiftllama_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype swiftllama_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype swiftllama_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype swiftllama_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype swiftllama_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype swiftllama_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op swiftllama_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op swiftllama_mpi_max(void) { return MPI_MAX; }
static inline void *swiftllama_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int swiftllama_mpi_success(void) { return MPI_SUCCESS; }
static inline int swiftllama_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
